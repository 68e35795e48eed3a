//! The simulator's per-customer random stream: xoshiro256++ seeded by SplitMix64 from
//! (seed, customer index), self-contained so the streams do not change with rand's StdRng.

use rand::RngCore;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One customer's random stream.
#[derive(Debug)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    pub(crate) fn new(seed: u64, index: u64) -> Self {
        // Hash seed and index separately so (seed, index) pairs do not alias
        // (plain seed ^ index would make (1, 0) and (0, 1) identical).
        let mut state = splitmix64_mix(seed.wrapping_add(GOLDEN))
            ^ splitmix64_mix(
                index
                    .wrapping_mul(GOLDEN)
                    .wrapping_add(0x632B_E59B_D9B4_E019),
            );
        let mut s = [0u64; 4];
        for word in &mut s {
            state = state.wrapping_add(GOLDEN);
            *word = splitmix64_mix(state);
        }
        if s == [0; 4] {
            s[0] = GOLDEN; // the all-zero state is a fixed point
        }
        SimRng { s }
    }
}

impl RngCore for SimRng {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
