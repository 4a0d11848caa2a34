"""A small shop module: the fixture the editor end-to-end tests refactor."""

import json


def total_price(items, tax_rate):
    total = 0
    for i in range(len(items)):
        item = items[i]
        if item["qty"] > 0:
            total = total + item["price"] * item["qty"]
    total = total + total * tax_rate
    return round(total, 2)


def load_items(path):
    with open(path) as fh:
        return json.load(fh)
