/* The floor of the benchmark: zlib alone inflating the input files, output discarded.
 *
 *   cc -O2 -o zlib_floor zlib_floor.c -lz -lpthread
 *   zlib_floor [-j THREADS] [-l] FILE...
 *
 * Files are handed out to THREADS workers (default 1) in the order given
 * (bench/run.sh passes them largest first, so the two workers finish together).
 * gzread reads every gzip member of a file. -l also counts newlines (rows + 1 for
 * the header of each CSV file); it is off for the timed runs.
 * Prints: files, compressed bytes, inflated bytes, newlines.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define BUF (1 << 20)

static char **files;
static int nfiles;
static int count_lines;
static atomic_int next_file;
static atomic_int failed;

struct totals { unsigned long long in, out, lines; };

static void *worker(void *arg) {
    struct totals *t = arg;
    char *buf = malloc(BUF);
    if (!buf) { atomic_store(&failed, 1); return NULL; }
    for (;;) {
        int i = atomic_fetch_add(&next_file, 1);
        if (i >= nfiles) break;
        struct stat st;
        if (stat(files[i], &st) == 0) t->in += (unsigned long long)st.st_size;
        gzFile f = gzopen(files[i], "rb");
        if (!f) { fprintf(stderr, "zlib_floor: cannot open %s\n", files[i]); atomic_store(&failed, 1); continue; }
        gzbuffer(f, 1 << 18);
        int n;
        while ((n = gzread(f, buf, BUF)) > 0) {
            t->out += (unsigned long long)n;
            if (count_lines) {
                const char *p = buf, *end = buf + n;
                while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) { t->lines++; p++; }
            }
        }
        if (n < 0) {
            int err;
            fprintf(stderr, "zlib_floor: %s: %s\n", files[i], gzerror(f, &err));
            atomic_store(&failed, 1);
        }
        gzclose(f);
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = 1, a = 1;
    while (a < argc && argv[a][0] == '-') {
        if (strcmp(argv[a], "-j") == 0 && a + 1 < argc) { threads = atoi(argv[a + 1]); a += 2; }
        else if (strcmp(argv[a], "-l") == 0) { count_lines = 1; a++; }
        else { fprintf(stderr, "usage: zlib_floor [-j THREADS] [-l] FILE...\n"); return 2; }
    }
    if (threads < 1) threads = 1;
    files = argv + a;
    nfiles = argc - a;
    if (nfiles == 0) { fprintf(stderr, "zlib_floor: no files\n"); return 2; }
    pthread_t tid[64];
    struct totals t[64];
    if (threads > 64) threads = 64;
    memset(t, 0, sizeof t);
    for (int i = 0; i < threads; i++) pthread_create(&tid[i], NULL, worker, &t[i]);
    struct totals sum = {0, 0, 0};
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        sum.in += t[i].in; sum.out += t[i].out; sum.lines += t[i].lines;
    }
    printf("files %d compressed %llu inflated %llu newlines %llu\n", nfiles, sum.in, sum.out, sum.lines);
    return atomic_load(&failed) ? 1 : 0;
}
