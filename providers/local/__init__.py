"""The built-in simulator provider (the default): no account, nothing leaves the machine."""
