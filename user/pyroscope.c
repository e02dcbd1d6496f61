// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Pyroscope's documented ingest API: POST BASE/ingest?name=APP{labels}
 * &from=&until=&format=pprof, the profile as the multipart/form-data file
 * field "profile" and a "sample_type_config" field that tells Pyroscope
 * our sample types' units and aggregation (outstanding memory is averaged
 * over time, not summed). libcurl speaks HTTP; a worker thread does it.
 *
 * A failed push is retried twice, 1 s apart; if all fail it is counted
 * (pyleak_pyroscope_push_failures_total on /metrics) and one line goes to
 * stderr when a run of failures begins, and one when pushes work again.
 *
 * A report pushes one job per process (labels are per push). Jobs wait in
 * a queue; a process's job not yet started when its next one comes is
 * replaced by it, so the queue holds at most one job per process.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "log.h"
#include "pyroscope.h"

#define ATTEMPTS	3
#define RETRY_S		1
#define TIMEOUT_S	5
#define CONNECT_S	2

/* Pyroscope knows Go's heap types; these say how to show them. */
static const char heap_types[] =
	"{\"inuse_space\":{\"units\":\"bytes\",\"aggregation\":\"average\","
	"\"display-name\":\"inuse_space_bytes\",\"sampled\":false},"
	"\"inuse_objects\":{\"units\":\"objects\",\"aggregation\":\"average\","
	"\"display-name\":\"inuse_objects_count\",\"sampled\":false},"
	"\"alloc_space\":{\"units\":\"bytes\",\"aggregation\":\"average\","
	"\"display-name\":\"alloc_space_bytes\",\"sampled\":false},"
	"\"alloc_objects\":{\"units\":\"objects\",\"aggregation\":\"average\","
	"\"display-name\":\"alloc_objects_count\",\"sampled\":false}}";
static const char fd_types[] =
	"{\"open_fds\":{\"units\":\"objects\",\"aggregation\":\"average\","
	"\"display-name\":\"open_fds_count\",\"sampled\":false}}";

struct blob {
	void *p;
	size_t len;
};

struct job {
	char *app;
	long from, until;
	struct blob heap, fds;
	struct job *next;
};

struct pyroscope {
	char *url;		/* the ingest URL without its query */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *pending;	/* waiting, oldest first: at most one per app */
	bool stopping;
	bool failing;		/* the last push failed: say so once */
	uint64_t pushes, failures;
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->app);
	free(j->heap.p);
	free(j->fds.p);
	free(j);
}

static int post(struct pyroscope *p, CURL *c, const struct job *j, const struct blob *b,
		const char *types, char *err, size_t len)
{
	char *name = curl_easy_escape(c, j->app, 0), *url = NULL;
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part;
	long status = 0;
	CURLcode rc;
	int n;

	if (!name || !mime) {
		snprintf(err, len, "out of memory");
		rc = CURLE_OUT_OF_MEMORY;
		goto out;
	}
	n = asprintf(&url, "%s?name=%s&from=%ld&until=%ld&format=pprof&spyName=pyleak-bpf",
		     p->url, name, j->from, j->until);
	if (n < 0) {
		url = NULL;
		rc = CURLE_OUT_OF_MEMORY;
		snprintf(err, len, "out of memory");
		goto out;
	}
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "profile");
	curl_mime_filename(part, "profile.pprof");
	curl_mime_type(part, "application/octet-stream");
	curl_mime_data(part, b->p, b->len);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "sample_type_config");
	curl_mime_filename(part, "sample_type_config.json");
	curl_mime_type(part, "application/json");
	curl_mime_data(part, types, CURL_ZERO_TERMINATED);

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);	/* threads: no SIGALRM for DNS */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "pyleak-bpf");
	rc = curl_easy_perform(c);
	if (rc) {
		snprintf(err, len, "%s", curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(err, len, "HTTP status %ld", status);
		rc = CURLE_HTTP_RETURNED_ERROR;
	}
out:
	free(url);
	curl_free(name);
	curl_mime_free(mime);
	return rc ? -EIO : 0;
}

/* The oldest waiting job, taken off the queue (under the lock). */
static struct job *take(struct pyroscope *p)
{
	struct job *j = p->pending;

	if (j)
		p->pending = j->next;
	return j;
}

static void *worker(void *arg)
{
	struct pyroscope *p = arg;
	CURL *c = curl_easy_init();
	char err[256];

	for (;;) {
		struct job *j, *old;
		bool ok = false, stopping;
		int a;

		pthread_mutex_lock(&p->lock);
		while (!p->pending && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		j = take(p);
		stopping = p->stopping;
		pthread_mutex_unlock(&p->lock);
		if (!j)
			break;
		for (a = 0; a < ATTEMPTS && !ok; a++) {
			if (a) {
				pthread_mutex_lock(&p->lock);
				stopping = p->stopping;
				pthread_mutex_unlock(&p->lock);
				if (stopping)	/* exiting: no retries */
					break;
				sleep(RETRY_S);
			}
			ok = c && !post(p, c, j, &j->heap, heap_types, err, sizeof(err)) &&
			     (!j->fds.p || !post(p, c, j, &j->fds, fd_types, err, sizeof(err)));
			if (!c)
				snprintf(err, sizeof(err), "cannot initialize libcurl");
		}
		pthread_mutex_lock(&p->lock);
		if (ok) {
			p->pushes++;
			if (p->failing)
				info("pyroscope %s: pushes work again", p->url);
			p->failing = false;
		} else {
			p->failures++;
			if (!p->failing)
				warn("pyroscope %s: push failed: %s (counted; retried with each "
				     "report)", p->url, err);
			p->failing = true;
			/* exiting, and the server does not answer: the other
			 * processes' last pushes would wait on it one by one */
			while (stopping && (old = take(p))) {
				p->failures++;
				job_free(old);
			}
		}
		pthread_mutex_unlock(&p->lock);
		job_free(j);
	}
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

int pyroscope__start(const char *url, struct pyroscope **out, char *err, size_t len)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *path = NULL, *base = NULL, *query = NULL;
	struct pyroscope *p = NULL;
	int ret = -EINVAL;
	size_t n;

	/* before any thread: curl's global set-up is not thread-safe */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https")) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host) {
		snprintf(err, len, "--pyroscope '%s': expected an http:// or https:// URL of a "
			 "Pyroscope server", url);
		goto out;
	}
	if (!curl_url_get(u, CURLUPART_QUERY, &query, 0) && query && *query) {
		snprintf(err, len, "--pyroscope '%s': give the server's base URL, without a query",
			 url);
		goto out;
	}
	/* BASE/ingest, whatever path prefix the server sits under */
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	n = path ? strlen(path) : 0;
	while (n && path[n - 1] == '/')
		n--;
	if (asprintf(&base, "%.*s/ingest", (int)n, path ? path : "") < 0) {
		base = NULL;
		ret = -ENOMEM;
		goto out;
	}
	curl_url_set(u, CURLUPART_PATH, base, 0);
	curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	p = calloc(1, sizeof(*p));
	if (!p || curl_url_get(u, CURLUPART_URL, &p->url, 0)) {
		snprintf(err, len, "--pyroscope: out of memory");
		ret = -ENOMEM;
		goto out;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, worker, p)) {
		snprintf(err, len, "--pyroscope: cannot start a thread");
		ret = -EAGAIN;
		goto out;
	}
	*out = p;
	p = NULL;
	ret = 0;
out:
	if (p) {
		curl_free(p->url);
		free(p);
	}
	free(base);
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return ret;
}

static int blob_copy(struct blob *b, const void *p, size_t len)
{
	if (!p)
		return 0;
	b->p = malloc(len ? len : 1);
	if (!b->p)
		return -ENOMEM;
	memcpy(b->p, p, len);
	b->len = len;
	return 0;
}

void pyroscope__push(struct pyroscope *p, const struct pyroscope_job *job)
{
	struct job *j = calloc(1, sizeof(*j)), *old, **at;

	if (!j || !(j->app = strdup(job->app)) || blob_copy(&j->heap, job->heap, job->heap_len) ||
	    blob_copy(&j->fds, job->fds, job->fds_len)) {
		job_free(j);
		return;
	}
	j->from = job->from;
	j->until = job->until > job->from ? job->until : job->from + 1;
	pthread_mutex_lock(&p->lock);
	for (at = &p->pending; *at && strcmp((*at)->app, j->app); at = &(*at)->next)
		;
	old = *at;
	if (old) {
		j->next = old->next;
		p->failures++;	/* superseded before it could be sent */
	}
	*at = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	job_free(old);
}

void pyroscope__counts(struct pyroscope *p, uint64_t *pushes, uint64_t *failures)
{
	pthread_mutex_lock(&p->lock);
	*pushes = p->pushes;
	*failures = p->failures;
	pthread_mutex_unlock(&p->lock);
}

void pyroscope__stop(struct pyroscope *p)
{
	struct job *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	while ((j = take(p)))
		job_free(j);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	curl_free(p->url);
	free(p);
}
