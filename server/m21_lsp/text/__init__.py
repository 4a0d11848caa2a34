"""Text as the editor sees it: positions in any encoding, Python lines classified, selections.

Nothing here imports the model or libcst, so the language server's start-up and its
``codeAction`` path can use these modules freely.
"""
