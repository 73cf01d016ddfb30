"""What every room shares: the errors many modules raise, clocks, units."""
