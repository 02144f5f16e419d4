"""One decoder per tracked program, registered in one table; shared helpers live once."""
