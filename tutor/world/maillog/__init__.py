"""The world's mail log: Postfix-format records, and the writer that files them."""
