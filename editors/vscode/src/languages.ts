/**
 * The VS Code language ids the extension works in: Python, and the languages people most
 * often open next to it, whose edits the server syntax-checks too.
 *
 * package.json repeats this list (activationEvents, the menus' `when` clauses) because VS Code
 * reads it before any code runs; languages.test.ts checks that the two agree.
 */
export const LANGUAGES: readonly string[] = [
  "python",
  "javascript",
  "javascriptreact",
  "typescript",
  "typescriptreact",
  "go",
  "rust",
  "java",
  "c",
  "cpp",
  "lua",
  "json",
  "jsonc",
  "toml",
  "yaml",
  "shellscript",
];

export function isSupportedLanguage(languageId: string): boolean {
  return LANGUAGES.includes(languageId);
}
