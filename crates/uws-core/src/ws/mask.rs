//! Payload masking (RFC 6455 section 5.3).
//!
//! Every byte a client sends is XORed with a 4-byte key, so unmasking touches the whole
//! payload: it is done a machine word at a time, which LLVM further vectorizes.

/// XORs `buf` with the 4-byte masking key, starting at key position `offset % 4`.
///
/// `offset` is the number of payload bytes of this frame already unmasked, so a frame that
/// arrives in several reads is unmasked piecewise with the same result as in one go.
///
/// Payloads of up to `SHORT` bytes take a plain word loop: for them the run-time dispatch and
/// the vector loop's set-up cost more than the work (70 instructions for 32 bytes, callgrind).
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if buf.len() <= SHORT {
        xor_words(buf, key, offset);
    } else {
        apply_mask_wide(buf, key, offset);
    }
}

const SHORT: usize = 64;

/// Also compiled for AVX2 and chosen at run time: twice the bytes per instruction of the
/// baseline SSE2 build. (Not AVX-512: on older Intel server cores its wide instructions lower
/// the clock of the whole core, and this loop is bound by memory more than by instructions.)
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn apply_mask_wide(buf: &mut [u8], key: [u8; 4], offset: usize) {
    xor_words(buf, key, offset)
}

#[inline(always)]
fn xor_words(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that index 0 of `buf` lines up with key[0] of `rotated`.
    let s = offset & 3;
    let rotated = [key[s], key[(s + 1) & 3], key[(s + 2) & 3], key[(s + 3) & 3]];
    let [a, b, c, d] = rotated;
    let word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);

    let (words, tail) = buf.as_chunks_mut::<8>();
    for chunk in words {
        *chunk = (u64::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
    }
    // The tail starts at a multiple of 8, hence at key phase 0 again.
    for (i, byte) in tail.iter_mut().enumerate() {
        *byte ^= rotated[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn matches_naive_for_all_offsets_and_lengths() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..100 {
            for offset in 0..8 {
                let data = pseudo_random(len, (len * 31 + offset) as u64);
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, key, offset);
                naive(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn unaligned_subslices_match_naive() {
        let key = [1, 2, 3, 0xff];
        let data = pseudo_random(200, 99);
        for start in 0..9 {
            let mut fast = data.clone();
            let mut slow = data.clone();
            apply_mask(&mut fast[start..], key, start);
            naive(&mut slow[start..], key, start);
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn piecewise_equals_whole() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data = pseudo_random(97, 7);
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for cut in 0..data.len() {
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            assert_eq!(parts, whole, "cut {cut}");
        }
    }

    #[test]
    fn masking_twice_restores_input() {
        let key = [9, 8, 7, 6];
        let data = pseudo_random(1000, 3);
        let mut buf = data.clone();
        apply_mask(&mut buf, key, 2);
        apply_mask(&mut buf, key, 2);
        assert_eq!(buf, data);
    }
}
