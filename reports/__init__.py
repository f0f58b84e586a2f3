"""Reports published to the ministry: templates, PDF rendering (WeasyPrint), machine-readable
statistics and publishing over SFTP. Imports ``ncms``; ``ncms`` never imports it."""
