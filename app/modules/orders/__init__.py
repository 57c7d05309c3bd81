"""Orders: takes orders, tracks their status, and (in orchestration and hybrid) steers the flow."""
