/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Byte sampling (--sample-bytes): every thread records one allocation
 * about every sample_bytes bytes it allocates, the distance to the next
 * drawn from an exponential distribution of that mean, as Go's heap
 * profiler, jemalloc and tcmalloc do. An allocation of size s is then
 * sampled with probability 1 - exp(-s / sample_bytes), whatever the
 * allocations around it, and userspace scales each sample by the inverse
 * of that probability: the estimates of bytes and counts are unbiased.
 */
#ifndef __SAMPLE_BPF_H
#define __SAMPLE_BPF_H

/* log2(1 + (m + 0.5) / 256) in units of 2^-16, m = 0..255: the mantissa
 * of a 32-bit random number's log2, at the middle of its bin. */
static const __u32 log2_frac[256] = {
	184, 552, 919, 1284, 1648, 2010, 2371, 2730,
	3088, 3445, 3801, 4155, 4507, 4859, 5209, 5558,
	5906, 6252, 6597, 6941, 7283, 7625, 7965, 8304,
	8641, 8978, 9313, 9647, 9980, 10312, 10642, 10972,
	11300, 11627, 11953, 12278, 12602, 12925, 13246, 13567,
	13886, 14205, 14522, 14838, 15153, 15467, 15781, 16093,
	16404, 16714, 17023, 17331, 17637, 17943, 18248, 18552,
	18856, 19158, 19459, 19759, 20058, 20356, 20654, 20950,
	21245, 21540, 21834, 22126, 22418, 22709, 22999, 23288,
	23577, 23864, 24150, 24436, 24721, 25005, 25288, 25570,
	25852, 26132, 26412, 26691, 26969, 27246, 27523, 27798,
	28073, 28347, 28620, 28893, 29164, 29435, 29706, 29975,
	30244, 30511, 30778, 31045, 31310, 31575, 31839, 32103,
	32365, 32627, 32888, 33149, 33409, 33668, 33926, 34184,
	34441, 34697, 34952, 35207, 35461, 35715, 35968, 36220,
	36471, 36722, 36972, 37222, 37470, 37719, 37966, 38213,
	38459, 38705, 38950, 39194, 39438, 39681, 39923, 40165,
	40406, 40647, 40887, 41126, 41365, 41603, 41841, 42077,
	42314, 42550, 42785, 43019, 43253, 43487, 43720, 43952,
	44184, 44415, 44646, 44876, 45105, 45334, 45562, 45790,
	46018, 46244, 46471, 46696, 46921, 47146, 47370, 47593,
	47816, 48039, 48261, 48482, 48703, 48924, 49143, 49363,
	49582, 49800, 50018, 50235, 50452, 50668, 50884, 51100,
	51315, 51529, 51743, 51956, 52169, 52382, 52594, 52805,
	53016, 53227, 53437, 53647, 53856, 54064, 54273, 54481,
	54688, 54895, 55101, 55307, 55513, 55718, 55922, 56127,
	56330, 56534, 56737, 56939, 57141, 57343, 57544, 57745,
	57945, 58145, 58344, 58543, 58742, 58940, 59138, 59335,
	59532, 59729, 59925, 60121, 60316, 60511, 60706, 60900,
	61094, 61287, 61480, 61672, 61865, 62056, 62248, 62439,
	62629, 62820, 63010, 63199, 63388, 63577, 63765, 63953,
	64141, 64328, 64515, 64701, 64887, 65073, 65259, 65444,
};

/* A draw of -ln(U) * mean, U uniform in (0, 1], in integer arithmetic:
 * -ln(U) = ln 2 * (32 - log2(u)) for the 32-bit random u = U * 2^32. */
static __always_inline __u64 sample_draw(__u64 mean)
{
	__u32 u = bpf_get_prandom_u32(), v, b = 0, m;
	__u64 x, q;

	if (!u)
		u = 1;
	v = u;
	if (v >> 16) { b += 16; v >>= 16; }
	if (v >> 8) { b += 8; v >>= 8; }
	if (v >> 4) { b += 4; v >>= 4; }
	if (v >> 2) { b += 2; v >>= 2; }
	if (v >> 1) { b += 1; }
	m = b >= 8 ? (u >> (b - 8)) & 0xff : (u << (8 - b)) & 0xff;
	x = (32ULL << 16) - (((__u64)b << 16) + log2_frac[m & 0xff]);	/* 2^-16 units */
	q = (x * 45426ULL) >> 16;	/* times ln 2 (45426 / 2^16) */
	return (mean * q >> 16) + 1;
}

/*
 * Does this allocation of size get sampled? left: the thread's bytes to
 * go before the next sample (0: not drawn yet).
 */
static __always_inline bool sample_take(__s64 *left, __u64 size, __u64 mean)
{
	if (*left <= 0)
		*left = sample_draw(mean);
	*left -= (__s64)size;
	if (*left > 0)
		return false;
	/* the distance past this one is a fresh draw (memoryless) */
	*left = sample_draw(mean);
	return true;
}

#endif /* __SAMPLE_BPF_H */
