// SPDX-License-Identifier: GPL-2.0
/*
 * randio: random direct I/O on a block device, for bench-virtio.
 *
 *   randio DEVICE read|write BLOCK COUNT SEED
 *
 * Reads or writes COUNT blocks of BLOCK bytes at block-aligned offsets
 * drawn from a xorshift generator seeded with SEED, one at a time, with
 * O_DIRECT, and prints "secs=S ops=N bytes=B" (monotonic clock). Busybox's
 * dd can only go in order, and a dd per block would time fork and exec.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t size, blocks, seed;
	long block, count, i;
	int fd, writing;
	void *buf;
	double t0;

	if (argc != 6) {
		fprintf(stderr, "usage: randio DEVICE read|write BLOCK COUNT SEED\n");
		return 2;
	}
	writing = !strcmp(argv[2], "write");
	block = atol(argv[3]);
	count = atol(argv[4]);
	seed = strtoull(argv[5], NULL, 0) | 1;
	if ((!writing && strcmp(argv[2], "read")) || block < 512 || block % 512 || count < 1) {
		fprintf(stderr, "randio: bad arguments\n");
		return 2;
	}
	fd = open(argv[1], (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size)) {
		perror(argv[1]);
		return 1;
	}
	blocks = size / block;
	if (!blocks || posix_memalign(&buf, 4096, block)) {
		fprintf(stderr, "randio: device too small or no memory\n");
		return 1;
	}
	memset(buf, 0x5a, block);
	t0 = now();
	for (i = 0; i < count; i++) {
		off_t off = (off_t)(next(&seed) % blocks) * block;
		ssize_t n = writing ? pwrite(fd, buf, block, off) : pread(fd, buf, block, off);

		if (n != block) {
			perror("randio: I/O");
			return 1;
		}
	}
	printf("secs=%.6f ops=%ld bytes=%ld\n", now() - t0, count, count * block);
	return 0;
}
