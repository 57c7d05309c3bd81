"""Watching a running shop: readiness (``health``), Prometheus metrics (``metrics``), log lines
(``logs``) and OpenTelemetry traces (``tracing``). Part of the kernel: it knows messages and
deliveries, never a module; the composition root hands it what a module wants to show."""
