export interface Item {
  price: number;
  qty: number;
}

export function totalPrice(items: Item[], taxRate: number): number {
  let subtotal = 0;
  for (let i = 0; i < items.length; i++) {
    if (items[i].qty > 0) {
      subtotal += items[i].price * items[i].qty;
    }
  }
  return Math.round(subtotal * (1 + taxRate) * 100) / 100;
}

export function formatTotal(total: number): string {
  return "$" + total.toFixed(2);
}
