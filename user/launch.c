// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `pyleak-bpf -- CMD`: start CMD held at its first Python bytecode, so
 * the allocator probes see everything the program itself does.
 *
 * The child waits on a pipe, then execs. gate.bpf.c stops it (SIGSTOP) at
 * every exec; we then arm a stop at the executable's entry point (ld.so
 * has mapped libpython by then) and at _PyEval_EvalFrameDefault (the
 * allocator is configured by then: PYTHONMALLOC is read at pre-init).
 * Wrappers that exec Python (pyenv shims, `env`, shell scripts that exec)
 * pass through the same loop.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "elffile.h"
#include "gate.skel.h"
#include "hostpid.h"
#include "launch.h"
#include "log.h"
#include "probe.h"
#include "procmaps.h"
#include "python.h"
#include "sanitize.h"

static bool find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *dirs, *dir, *save = NULL;
	bool found = false;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) == 0;
	}
	dirs = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *dir ? dir : ".", name);
		found = access(out, X_OK) == 0;
	}
	free(dirs);
	return found;
}

/* libpythonX.Y.so from DT_NEEDED, searched like ld.so would (mostly). */
static int find_libpython(struct elf_file *exe, const char *exe_path, struct elf_file *lib)
{
	const char *needed[64], *paths[8], *libpython = NULL;
	char dirs[8192] = "", origin[4096], cand[8192];
	const char *ldp = getenv("LD_LIBRARY_PATH");
	char *d, *save = NULL;
	int i, n;

	snprintf(origin, sizeof(origin), "%s", exe_path);
	*strrchr(origin, '/') = '\0';
	n = elf__dynamic(exe, DT_NEEDED, needed, 64);
	for (i = 0; i < n; i++)
		if (!strncmp(needed[i], "libpython", 9))
			libpython = needed[i];
	if (!libpython)
		return -ENOENT;
	n = elf__dynamic(exe, DT_RUNPATH, paths, 4);
	n += elf__dynamic(exe, DT_RPATH, paths + n, 4);
	for (i = 0; i < n; i++)
		snprintf(dirs + strlen(dirs), sizeof(dirs) - strlen(dirs), "%s:", paths[i]);
	snprintf(dirs + strlen(dirs), sizeof(dirs) - strlen(dirs),
		 "%s:/usr/local/lib:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib:/usr/lib",
		 ldp ? ldp : "");
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (!strncmp(d, "$ORIGIN", 7))
			snprintf(cand, sizeof(cand), "%s%s/%s", origin, d + 7, libpython);
		else
			snprintf(cand, sizeof(cand), "%s/%s", d, libpython);
		if (!elf__open(lib, cand))
			return 0;
	}
	return -ENOENT;
}

/*
 * Is the interpreter CMD runs a PGO build with pymalloc inlined? 1 yes,
 * 0 no, -1 cannot tell (a wrapper script, a shim): follows PATH and one
 * level of `#!` (including `#!/usr/bin/env python3`).
 */
static int command_guarded(const char *argv0, int depth)
{
	struct elf_file exe, lib;
	char path[4096], line[512];
	int ret = -1;
	FILE *f;

	if (depth > 2 || !find_in_path(argv0, path, sizeof(path)))
		return -1;
	if (elf__open(&exe, path)) {
		char *interp, *arg;

		f = fopen(path, "re");
		if (!f)
			return -1;
		if (!fgets(line, sizeof(line), f) || strncmp(line, "#!", 2)) {
			fclose(f);
			return -1;
		}
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		interp = strtok(line + 2, " \t");
		arg = strtok(NULL, " \t");
		if (!interp)
			return -1;
		if (arg && !strcmp(strrchr(interp, '/') ? strrchr(interp, '/') + 1 : interp, "env"))
			return command_guarded(arg, depth + 1);
		return command_guarded(interp, depth + 1);
	}
	if (elf__exports(&exe, "_PyRuntime")) {
		ret = pymodule__guarded(&exe);
	} else if (!find_libpython(&exe, path, &lib)) {
		ret = pymodule__guarded(&lib);
		elf__close(&lib);
	}
	elf__close(&exe);
	return ret < 0 ? -1 : ret;
}

int launch__fork(struct launch *l, char **argv, bool keep_allocator, char *err, size_t errlen)
{
	int pipefd[2], errfd[2], ret;
	pid_t host_tgid;

	memset(l, 0, sizeof(*l));
	l->go_fd = l->err_fd = -1;
	l->pythonmalloc = !keep_allocator && !getenv("PYTHONMALLOC") &&
			  command_guarded(argv[0], 0) != 0;

	l->gate = gate_bpf__open_and_load();
	if (!l->gate) {
		ret = -errno;
		snprintf(err, errlen, "cannot load the launch gate BPF program: %s", strerror(-ret));
		return ret;
	}
	l->exec_link = bpf_program__attach(l->gate->progs.exec_gate);
	ret = libbpf_get_error(l->exec_link);
	if (ret) {
		l->exec_link = NULL;
		snprintf(err, errlen, "cannot attach to sched_process_exec: %s", strerror(-ret));
		return ret;
	}
	/* errfd: a failed exec sends its errno back; a successful one closes it. */
	if (pipe2(pipefd, O_CLOEXEC) || pipe2(errfd, O_CLOEXEC)) {
		ret = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-ret));
		return ret;
	}
	l->pid = fork();
	if (l->pid < 0) {
		ret = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		return ret;
	}
	if (l->pid == 0) {
		char c;

		close(pipefd[1]);
		close(errfd[0]);
		/* If we die while it is stopped at a gate, it must not stay stopped. */
		prctl(PR_SET_PDEATHSIG, SIGCONT);
		/* The command gets default signal handling, not the tracer's. */
		signal(SIGPIPE, SIG_DFL);
		/* Held until the gates are armed; EOF means the parent gave up. */
		if (read(pipefd[0], &c, 1) != 1)
			_exit(127);
		if (l->pythonmalloc)
			setenv("PYTHONMALLOC", "malloc", 1);
		execvp(argv[0], argv);
		ret = errno;
		if (write(errfd[1], &ret, sizeof(ret)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pipefd[0]);
	close(errfd[1]);
	l->go_fd = pipefd[1];
	l->err_fd = errfd[0];
	/* the gate compares host pids (the tracer may run in a pid namespace) */
	ret = hostpid__resolve(l->pid, &host_tgid, err, errlen);
	if (ret)
		return ret;
	l->gate->bss->gate_tgid = host_tgid;
	return 0;
}

/* A stop at symbol in path, or at path's ELF entry point (symbol NULL). */
static int arm(struct launch *l, const char *path, const char *symbol, char *err, size_t errlen)
{
	return probes__symbol(&l->gates, l->gate->progs.stop_gate, l->pid, path, symbol, err,
			      errlen);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * waitpid(WUNTRACED) that gives up on a signal (sfd) or the deadline: a
 * command that never becomes CPython (sleep, python2.7, a wrapper that
 * runs Python as a child) must not make the tool unstoppable. SIGCHLD is
 * taken through its own signalfd (blocked by the caller) to wake poll.
 */
static int wait_child(struct launch *l, int sfd, int cfd, double deadline, int *status)
{
	for (;;) {
		struct pollfd fds[2] = { { cfd, POLLIN }, { sfd, POLLIN } };
		struct signalfd_siginfo si;
		int timeout = -1;
		pid_t r = waitpid(l->pid, status, WNOHANG | WUNTRACED);

		if (r == l->pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (deadline) {
			double left = deadline - mono_s();

			if (left <= 0)
				return -ETIME;
			timeout = (int)(left * 1000) + 1;
		}
		if (poll(fds, sfd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			return -errno;
		if (fds[1].revents)
			return -EINTR;
		if (fds[0].revents && read(cfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
			return -errno;
	}
}

/* The command's own path for the probes: its maps name (deleted or not),
 * which probes__symbol opens as mapped. */
static void exe_path(pid_t pid, char *out, size_t len)
{
	char fn[64];
	ssize_t n;

	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	n = readlink(fn, out, len - 1);
	if (n <= 0)
		snprintf(out, len, "%s", fn);
	else
		out[n] = '\0';
}

static int run_to_python(struct launch *l, int sfd, int cfd, double deadline, char *err,
			 size_t errlen)
{
	enum { GATE_EXEC, GATE_ENTRY, GATE_EVAL } next = GATE_EXEC;
	char exe[64], path[4096], version[32];
	int status, ret;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", l->pid);
	if (write(l->go_fd, "g", 1) != 1) {
		snprintf(err, errlen, "cannot release the command: %s", strerror(errno));
		return -EIO;
	}
	for (;;) {
		struct procmaps m;
		const char *mod;

		ret = wait_child(l, sfd, cfd, deadline, &status);
		if (ret == -EINTR || ret == -ETIME) {
			snprintf(err, errlen, "%s before the command reached CPython; it was ended",
				 ret == -EINTR ? "interrupted" : "the duration (-d) ended");
			return ret;
		}
		if (ret) {
			snprintf(err, errlen, "waiting for the command: %s", strerror(-ret));
			return ret;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			int e = 0;

			l->exited = true;
			if (next == GATE_EXEC && read(l->err_fd, &e, sizeof(e)) == sizeof(e))
				snprintf(err, errlen, "cannot run it: %s", strerror(e));
			else
				snprintf(err, errlen, "the command %s before starting CPython",
					 WIFEXITED(status) ? "exited" : "was killed");
			return -ESRCH;
		}
		if (!WIFSTOPPED(status))
			continue;
		switch (next) {
		case GATE_EXEC: {
			struct elf_file ef;
			bool py = false;

			if (!elf__open(&ef, exe)) {
				py = elf__exports(&ef, "_PyRuntime");
				elf__close(&ef);
			}
			exe_path(l->pid, path, sizeof(path));
			ret = py ? arm(l, path, "_PyEval_EvalFrameDefault", err, errlen) :
				   arm(l, exe, NULL, err, errlen);
			if (ret)
				return ret;
			next = py ? GATE_EVAL : GATE_ENTRY;
			break;
		}
		case GATE_ENTRY:
			probes__detach(&l->gates);
			if (procmaps__read(l->pid, &m))
				break;
			mod = pyproc__find_module(l->pid, &m, path, sizeof(path));
			if (mod) {
				snprintf(path, sizeof(path), "%s", mod);
				procmaps__free(&m);
				ret = arm(l, path, "_PyEval_EvalFrameDefault", err, errlen);
				if (ret)
					return ret;
				next = GATE_EVAL;
			} else if (pyproc__old_version(l->pid, &m, version, sizeof(version))) {
				procmaps__free(&m);
				snprintf(err, errlen, "pid %d: CPython %s is not supported (%s)",
					 l->pid, version, pyoffsets__supported());
				return -ENOTSUP;
			} else {
				procmaps__free(&m);
				info("pid %d is not CPython yet; waiting for it to exec CPython", l->pid);
				next = GATE_EXEC;
			}
			break;
		case GATE_EVAL:
			/* Stopped before its first bytecode: the caller attaches, then resumes. */
			probes__detach(&l->gates);
			l->gate->bss->gate_tgid = 0;
			return 0;
		}
		kill(l->pid, SIGCONT);
	}
}

int launch__run_to_python(struct launch *l, int sfd, double deadline, char *err, size_t errlen)
{
	sigset_t chld, old;
	int cfd, ret;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	cfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (cfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "signalfd: %s", strerror(-ret));
	} else {
		ret = run_to_python(l, sfd, cfd, deadline, err, errlen);
		close(cfd);
	}
	if (!sigismember(&old, SIGCHLD))
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
	return ret;
}

void launch__resume(struct launch *l)
{
	kill(l->pid, SIGCONT);
}

/* A command that ignores SIGTERM gets SIGKILL after this long. */
#define TERM_GRACE_MS 5000

/* Signal every descendant of pid (a wrapper's children: the shell that
 * runs python without exec). */
static void signal_descendants(pid_t pid, int sig)
{
	pid_t todo[256], kids[256];
	int ntodo = 1, nkids = 0, i;

	todo[0] = pid;
	while (ntodo > 0) {
		pid_t parent = todo[--ntodo];
		struct dirent *de;
		DIR *d = opendir("/proc");

		if (!d)
			return;
		while ((de = readdir(d)) && nkids < 256) {
			char fn[300], buf[512], *p;
			int ppid = 0, fd;
			ssize_t n;

			if (de->d_name[0] < '1' || de->d_name[0] > '9')
				continue;
			snprintf(fn, sizeof(fn), "/proc/%s/stat", de->d_name);
			fd = open(fn, O_RDONLY | O_CLOEXEC);
			n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			p = strrchr(buf, ')');
			if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1 || ppid != parent)
				continue;
			kids[nkids++] = atoi(de->d_name);
			if (ntodo < 256)
				todo[ntodo++] = kids[nkids - 1];
		}
		closedir(d);
	}
	for (i = 0; i < nkids; i++) {
		kill(kids[i], sig);
		kill(kids[i], SIGCONT);
	}
}

int launch__finish(struct launch *l, bool terminate)
{
	int status = 0, waited = 0;

	if (l->pid <= 0 || l->exited)
		return 0;
	if (terminate) {
		signal_descendants(l->pid, SIGTERM);
		kill(l->pid, SIGTERM);
		kill(l->pid, SIGCONT);
	}
	while (waitpid(l->pid, &status, terminate ? WNOHANG : 0) == 0) {
		if (waited == TERM_GRACE_MS) {
			signal_descendants(l->pid, SIGKILL);
			kill(l->pid, SIGKILL);
		}
		usleep(10000);
		waited += 10;
	}
	l->exited = true;
	return status;
}

void launch__destroy(struct launch *l)
{
	probes__detach(&l->gates);
	bpf_link__destroy(l->exec_link);
	gate_bpf__destroy(l->gate);
	if (l->go_fd >= 0)
		close(l->go_fd);
	if (l->err_fd >= 0)
		close(l->err_fd);
	l->gate = NULL;
	l->exec_link = NULL;
	l->go_fd = l->err_fd = -1;
}
