/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Byte sampling (--sample-bytes): every thread records one allocation
 * about every sample_bytes bytes it allocates, the distance to the next
 * drawn from an exponential distribution of that mean, as Go's heap
 * profiler, jemalloc and tcmalloc do. An allocation of size s is then
 * sampled with probability 1 - exp(-s / sample_bytes), whatever the
 * allocations around it, and userspace scales each sample by the inverse
 * of that probability: the estimates of bytes and counts are unbiased
 * (tests/unit/test_sampling.c runs this code).
 */
#ifndef __SAMPLE_BPF_H
#define __SAMPLE_BPF_H

/* log2(1 + m / 256) in units of 2^-16, m = 0..256: the mantissa of a
 * number's log2, interpolated between these. */
static const __u32 log2_frac[257] = {
	0, 369, 736, 1102, 1466, 1829, 2190, 2551,
	2909, 3267, 3623, 3978, 4331, 4683, 5034, 5384,
	5732, 6079, 6425, 6769, 7112, 7454, 7795, 8134,
	8473, 8810, 9146, 9480, 9814, 10146, 10477, 10807,
	11136, 11464, 11791, 12116, 12440, 12764, 13086, 13407,
	13727, 14046, 14363, 14680, 14996, 15310, 15624, 15937,
	16248, 16559, 16868, 17177, 17484, 17791, 18096, 18401,
	18704, 19007, 19308, 19609, 19909, 20207, 20505, 20802,
	21098, 21393, 21687, 21980, 22272, 22564, 22854, 23144,
	23433, 23720, 24007, 24293, 24579, 24863, 25146, 25429,
	25711, 25992, 26272, 26551, 26830, 27108, 27384, 27660,
	27936, 28210, 28484, 28757, 29029, 29300, 29571, 29840,
	30109, 30378, 30645, 30912, 31178, 31443, 31707, 31971,
	32234, 32496, 32758, 33019, 33279, 33538, 33797, 34055,
	34312, 34569, 34825, 35080, 35334, 35588, 35841, 36094,
	36346, 36597, 36847, 37097, 37346, 37595, 37842, 38090,
	38336, 38582, 38827, 39072, 39316, 39559, 39802, 40044,
	40286, 40527, 40767, 41006, 41246, 41484, 41722, 41959,
	42196, 42432, 42667, 42902, 43137, 43370, 43603, 43836,
	44068, 44300, 44530, 44761, 44990, 45220, 45448, 45676,
	45904, 46131, 46357, 46583, 46809, 47034, 47258, 47482,
	47705, 47928, 48150, 48372, 48593, 48813, 49034, 49253,
	49472, 49691, 49909, 50127, 50344, 50560, 50776, 50992,
	51207, 51422, 51636, 51850, 52063, 52276, 52488, 52700,
	52911, 53122, 53332, 53542, 53751, 53960, 54169, 54377,
	54584, 54791, 54998, 55204, 55410, 55615, 55820, 56025,
	56229, 56432, 56635, 56838, 57040, 57242, 57443, 57644,
	57845, 58045, 58245, 58444, 58643, 58841, 59039, 59237,
	59434, 59631, 59827, 60023, 60219, 60414, 60609, 60803,
	60997, 61190, 61384, 61576, 61769, 61961, 62152, 62343,
	62534, 62725, 62915, 63104, 63294, 63483, 63671, 63859,
	64047, 64234, 64421, 64608, 64794, 64980, 65166, 65351,
	65536,
};

/*
 * A draw of -ln(U) * mean, U uniform in (0, 1], in integer arithmetic
 * (no floating point in BPF). U = u / 2^32 for a 32-bit random u.
 * Near U = 1 (short gaps, which decide whether small allocations are
 * sampled) -ln(U) = -ln(1 - W) = W + W^2/2 + W^3/3 + ..., W = 1 - U < 1/16,
 * exact to a few parts in 10^5. Elsewhere -ln(U) = ln 2 * (32 - log2(u)),
 * log2(u) from u's highest bit and its next 16 bits (a table of 257 and
 * a linear step between its entries).
 */
static __always_inline __u64 sample_draw(__u64 mean)
{
	__u32 u = bpf_get_prandom_u32(), v, b = 0, m, r;
	__u64 w = (1ULL << 32) - u, x, q, lo, hi;

	if (w < (1ULL << 28)) {
		__u64 w2 = (w * w) >> 32, w3 = (w2 * w) >> 32;

		q = w + (w2 >> 1) + w3 / 3;		/* -ln(U) in units of 2^-32 */
		return (mean * q >> 32) + 1;
	}
	v = u;
	if (v >> 16) { b += 16; v >>= 16; }
	if (v >> 8) { b += 8; v >>= 8; }
	if (v >> 4) { b += 4; v >>= 4; }
	if (v >> 2) { b += 2; v >>= 2; }
	if (v >> 1) { b += 1; }
	/* the 16 bits under the highest one: 8 pick the entry, 8 interpolate */
	m = b >= 16 ? (u >> (b - 16)) & 0xffff : (u << (16 - b)) & 0xffff;
	r = m & 0xff;
	m = (m >> 8) & 0xff;
	lo = log2_frac[m];
	hi = log2_frac[m + 1];	/* m <= 255 */
	x = (32ULL << 16) - (((__u64)b << 16) + lo + (((hi - lo) * r) >> 8));	/* 2^-16 units */
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
