/* Touch N pages, then ask the kernel where they are (move_pages with nodes NULL),
 * optionally move them to NODE first; print one status per page.  Raw syscalls,
 * no libnuma: the same binary links statically.
 *
 *   pages N [NODE] [wait]   (wait: pause until stdin closes, for migratepages)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long move_pages(int pid, unsigned long n, void **pages, const int *nodes,
		       int *status, int flags)
{
	return syscall(SYS_move_pages, pid, n, pages, nodes, status, flags);
}

static void query(unsigned long n, void **pages, int *status, const char *label)
{
	for (unsigned long i = 0; i < n; i++)
		status[i] = -12345;
	long rc = move_pages(0, n, pages, NULL, status, 0);
	printf("%s rc=%ld", label, rc);
	if (rc < 0)
		printf(" errno=%d", errno);
	for (unsigned long i = 0; i < n; i++)
		printf(" %d", status[i]);
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 4;
	long page = sysconf(_SC_PAGESIZE);
	char *mem = mmap(NULL, n * page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void **pages = calloc(n, sizeof(*pages));
	int *status = calloc(n, sizeof(*status));
	int *nodes = calloc(n, sizeof(*nodes));
	if (mem == MAP_FAILED || !pages || !status || !nodes)
		return 2;
	for (unsigned long i = 0; i < n; i++) {
		mem[i * page] = 1;
		pages[i] = mem + i * page;
	}
	query(n, pages, status, "where");
	if (argc > 2 && strcmp(argv[2], "wait") != 0) {
		for (unsigned long i = 0; i < n; i++)
			nodes[i] = atoi(argv[2]);
		for (unsigned long i = 0; i < n; i++)
			status[i] = -12345;
		long rc = move_pages(0, n, pages, nodes, status, 0);
		printf("move rc=%ld", rc);
		if (rc < 0)
			printf(" errno=%d", errno);
		for (unsigned long i = 0; i < n; i++)
			printf(" %d", status[i]);
		printf("\n");
		query(n, pages, status, "after");
	}
	if (argc > 3 || (argc > 2 && strcmp(argv[2], "wait") == 0)) {
		printf("ready\n");
		fflush(stdout);
		char buf[16];
		while (read(0, buf, sizeof(buf)) > 0)
			;
		query(n, pages, status, "then");
	}
	return 0;
}
