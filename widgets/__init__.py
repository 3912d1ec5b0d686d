"""One widget per file; the Textual side of podium."""
