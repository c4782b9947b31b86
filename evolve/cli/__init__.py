"""The `evolve` command line. Commands live one module each and are imported lazily."""
