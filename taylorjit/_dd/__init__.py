"""Double-double ("dd", ~106-bit significand) Taylor coefficients and integration."""
