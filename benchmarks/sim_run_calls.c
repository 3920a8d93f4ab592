/* Touch N pages, query them once (the mirror's first sight), then time K
 * move_pages() queries of all of them and K
 * get_mempolicy() calls (no pages): what a supervised call costs, and how that
 * grows with the pages the program has.  Prints "query_us=... null_us=...". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	int k = argc > 2 ? atoi(argv[2]) : 5;
	long page = sysconf(_SC_PAGESIZE);
	char *mem = mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void **pages = calloc(n, sizeof(*pages));
	int *status = calloc(n, sizeof(*status));
	if (mem == MAP_FAILED || !pages || !status)
		return 2;
	for (unsigned long i = 0; i < n; i++) {
		mem[i * page] = 1;
		pages[i] = mem + i * page;
	}
	double t = now();
	if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) < 0)
		return 3; /* the first: the mirror faults in every page it has not seen */
	double t0 = now();
	for (int i = 0; i < k; i++)
		if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) < 0)
			return 3;
	double t1 = now();
	int mode;
	for (int i = 0; i < k; i++)
		syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0);
	double t2 = now();
	printf("first_us=%.0f query_us=%.0f null_us=%.0f\n", (t0 - t) * 1e6,
	       (t1 - t0) / k * 1e6, (t2 - t1) / k * 1e6);
	return 0;
}
