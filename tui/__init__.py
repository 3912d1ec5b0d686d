"""podium's client side: the command line, the Textual app and its screens."""
