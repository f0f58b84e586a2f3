"""``python -m ncms.cli``: the same as the ``ncms`` command."""
from ncms.cli import main

main()
