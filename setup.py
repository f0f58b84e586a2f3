"""Everything about the package is in setup.cfg; this file adds one build step: the UI's
translations are compiled (``.po`` to ``.mo``) into the wheel, so that an installed platform
speaks Chinese. The compiled files are not kept in git (``make translations`` compiles them in
a working tree, which an editable install reads)."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TRANSLATIONS = "ncms/web/translations"


class BuildWithTranslations(build_py):
    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            for po in sorted(Path(TRANSLATIONS).glob("*/LC_MESSAGES/*.po")):
                compile_catalog(po, Path(self.build_lib) / po.with_suffix(".mo"))


def compile_catalog(po: Path, mo: Path) -> None:
    """As `pybabel compile` does: fuzzy entries are left out."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source)
    mo.parent.mkdir(parents=True, exist_ok=True)
    with mo.open("wb") as target:
        write_mo(target, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": BuildWithTranslations})
