/* Linked into every program `make asan` builds. UBSan (GCC's libubsan beside libasan)
 * prints its reports on stderr only, whatever log_path says: this hook, which libubsan
 * calls for each report, also writes it to a file in $BDS_SANITIZER_LOGS, as ASan and
 * LeakSanitizer do through log_path, so a report whose exit status a script or a
 * pipeline swallowed still fails the run. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void __ubsan_get_current_report_data(const char **kind, const char **message, const char **file,
                                     unsigned *line, unsigned *col, char **addr);
void __ubsan_on_report(void);

void __ubsan_on_report(void)
{
	const char *dir = getenv("BDS_SANITIZER_LOGS");
	char path[4096], exe[4096];
	if (!dir || snprintf(path, sizeof path, "%s/ubsan.%ld", dir, (long)getpid()) >= (int)sizeof path)
		return;
	const char *kind = "", *message = "", *file = "";
	unsigned line = 0, col = 0;
	char *addr = NULL;
	__ubsan_get_current_report_data(&kind, &message, &file, &line, &col, &addr);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
	if (fd < 0)
		return;
	dprintf(fd, "%s (pid %ld): %s:%u:%u: %s: %s\n", exe, (long)getpid(), file, line, col, kind, message);
	close(fd);
}
