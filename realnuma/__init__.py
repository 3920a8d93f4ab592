"""realnuma: the NUMA syscalls on the real kernel (cffi). Arrives with the next issue."""
