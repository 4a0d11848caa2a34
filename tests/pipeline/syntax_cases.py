"""Real-looking files in the languages the tree-sitter check covers, shared by the tests.

Each case has a file with three top-level pieces; the selection is the middle function
(``OLD``), ``NEW`` is a valid refactor of it written by hand, and ``broken`` is ``NEW`` with
its closing brace dropped (what a model does when it cuts a reply short).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    language_id: str
    path: str
    fence: str
    head: str
    old: str
    new: str
    tail: str

    @property
    def source(self) -> str:
        return self.head + self.old + self.tail

    @property
    def broken(self) -> str:
        body, _, _ = self.new.rstrip("\n").rpartition("}")
        return body.rstrip() + "\n"

    @property
    def expected(self) -> str:
        return self.head + self.new + self.tail

    def reply(self, code: str) -> str:
        return f"<think>tidy the loop</think>\n```{self.fence}\n{code}```\n"


CASES: list[Case] = [
    Case(
        "javascript",
        "/work/src/cart.js",
        "js",
        "'use strict';\n\nconst TAX = 0.2;\n\n",
        "function total(items) {\n  let sum = 0;\n  for (let i = 0; i < items.length; i++) {\n"
        "    sum += items[i].price;\n  }\n  return sum;\n}\n",
        "function total(items) {\n  return items.reduce((sum, item) => sum + item.price, 0);\n}\n",
        "\nfunction withTax(items) {\n  return total(items) * (1 + TAX);\n}\n\n"
        "module.exports = { total, withTax };\n",
    ),
    Case(
        "typescript",
        "/work/src/cart.ts",
        "ts",
        "export interface Item {\n  price: number;\n}\n\n",
        "export function total(items: Item[]): number {\n  let sum = 0;\n"
        "  for (const item of items) {\n    sum += item.price;\n  }\n  return sum;\n}\n",
        "export function total(items: Item[]): number {\n"
        "  return items.reduce((sum, item) => sum + item.price, 0);\n}\n",
        "\nexport function withTax(items: Item[], rate: number): number {\n"
        "  return total(items) * (1 + rate);\n}\n",
    ),
    Case(
        "typescriptreact",
        "/work/src/Cart.tsx",
        "tsx",
        "import React from 'react';\n\ntype Props = { items: string[] };\n\n",
        "export function List({ items }: Props) {\n  const rows = [];\n"
        "  for (const item of items) {\n    rows.push(<li key={item}>{item}</li>);\n  }\n"
        "  return <ul>{rows}</ul>;\n}\n",
        "export function List({ items }: Props) {\n"
        "  return <ul>{items.map((item) => <li key={item}>{item}</li>)}</ul>;\n}\n",
        "\nexport function Empty() {\n  return <p>Nothing here</p>;\n}\n",
    ),
    Case(
        "go",
        "/work/cart/cart.go",
        "go",
        'package cart\n\nimport "fmt"\n\ntype Item struct {\n\tPrice int\n}\n\n',
        "func Total(items []Item) int {\n\tsum := 0\n\tfor i := 0; i < len(items); i++ {\n"
        "\t\tsum = sum + items[i].Price\n\t}\n\treturn sum\n}\n",
        "func Total(items []Item) int {\n\tsum := 0\n\tfor _, item := range items {\n"
        "\t\tsum += item.Price\n\t}\n\treturn sum\n}\n",
        '\nfunc Describe(items []Item) string {\n\treturn fmt.Sprintf("%d", Total(items))\n}\n',
    ),
    Case(
        "rust",
        "/work/src/cart.rs",
        "rust",
        "pub struct Item {\n    pub price: u32,\n}\n\n",
        "pub fn total(items: &[Item]) -> u32 {\n    let mut sum = 0;\n"
        "    for item in items {\n        sum += item.price;\n    }\n    sum\n}\n",
        "pub fn total(items: &[Item]) -> u32 {\n    items.iter().map(|item| item.price).sum()\n}\n",
        "\npub fn with_tax(items: &[Item]) -> u32 {\n    total(items) * 6 / 5\n}\n",
    ),
    Case(
        "java",
        "/work/src/Cart.java",
        "java",
        "package shop;\n\nimport java.util.List;\n\n",
        "class Cart {\n    static int total(List<Integer> prices) {\n        int sum = 0;\n"
        "        for (int i = 0; i < prices.size(); i++) {\n            sum += prices.get(i);\n"
        "        }\n        return sum;\n    }\n}\n",
        "class Cart {\n    static int total(List<Integer> prices) {\n"
        "        return prices.stream().mapToInt(Integer::intValue).sum();\n    }\n}\n",
        "\nclass Tax {\n    static double rate() {\n        return 0.2;\n    }\n}\n",
    ),
    Case(
        "c",
        "/work/src/cart.c",
        "c",
        "#include <stddef.h>\n\nstruct item {\n    int price;\n};\n\n",
        "int total(const struct item *items, size_t n) {\n    int sum = 0;\n"
        "    size_t i = 0;\n    while (i < n) {\n        sum += items[i].price;\n        i++;\n"
        "    }\n    return sum;\n}\n",
        "int total(const struct item *items, size_t n) {\n    int sum = 0;\n"
        "    for (size_t i = 0; i < n; i++) {\n        sum += items[i].price;\n    }\n"
        "    return sum;\n}\n",
        "\nint with_tax(const struct item *items, size_t n) {\n"
        "    return total(items, n) * 6 / 5;\n}\n",
    ),
    Case(
        "cpp",
        "/work/src/cart.cpp",
        "cpp",
        "#include <numeric>\n#include <vector>\n\nnamespace shop {\nstruct Item {\n"
        "    int price;\n};\n}  // namespace shop\n\n",
        "int total(const std::vector<shop::Item>& items) {\n    int sum = 0;\n"
        "    for (size_t i = 0; i < items.size(); ++i) {\n        sum += items[i].price;\n"
        "    }\n    return sum;\n}\n",
        "int total(const std::vector<shop::Item>& items) {\n    int sum = 0;\n"
        "    for (const auto& item : items) {\n        sum += item.price;\n    }\n"
        "    return sum;\n}\n",
        "\nint with_tax(const std::vector<shop::Item>& items) {\n"
        "    return total(items) * 6 / 5;\n}\n",
    ),
]
