"""trifront."""
