"""SMS: mobile numbers, and (in later issues) the sending pipeline."""
