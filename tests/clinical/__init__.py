"""The clinic casebook: whole visits through the public API, with the figures worked out by hand."""
