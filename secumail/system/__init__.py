"""Side-effect primitives shared by every feature: processes, files, locks, logging."""
