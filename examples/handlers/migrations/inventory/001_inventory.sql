CREATE TABLE items (
    sku TEXT PRIMARY KEY,
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    sku TEXT NOT NULL REFERENCES items(sku),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    reserved_at TEXT NOT NULL,
    reserved_by TEXT NOT NULL
);
