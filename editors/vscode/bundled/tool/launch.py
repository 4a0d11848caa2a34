"""Starts the m21-lsp server that the VS Code extension carries.

The extension runs ``python -I launch.py serve --stdio``. Isolated mode (-I) keeps PYTHONPATH
and the user's site-packages from putting another m21_lsp, or another libcst, in front of the
bundled one. libcst is compiled per CPython minor version, so the bundle has one complete tree
per version (../libs/cp310, ...): this picks the running interpreter's. Kept to syntax that
Python 3.6 and later parse, so a Python that is too old gets a sentence, not a SyntaxError.
"""

import os
import sys

EXIT_NO_BUNDLE = 3


def libs_dir() -> str:
    """The bundled tree for this interpreter (it may not exist)."""
    here = os.path.dirname(os.path.abspath(__file__))
    tag = "cp{}{}".format(*sys.version_info[:2])
    return os.path.join(os.path.dirname(here), "libs", tag)


def main() -> int:
    libs = libs_dir()
    if sys.implementation.name != "cpython" or not os.path.isdir(libs):
        version = "{}.{}".format(*sys.version_info[:2])
        sys.stderr.write(
            f"m21-lsp: this extension carries no server for {sys.implementation.name} "
            f"{version} ({sys.executable}); it needs CPython 3.10 or newer.\n"
        )
        return EXIT_NO_BUNDLE
    sys.path.insert(0, libs)
    from m21_lsp.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
