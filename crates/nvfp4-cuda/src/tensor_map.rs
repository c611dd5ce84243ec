//! Tensor maps: the descriptors that Hopper's bulk tensor copy engine (TMA,
//! `cp.async.bulk.tensor`) reads to copy a box of a tensor in global memory into shared memory.
//!
//! A map holds the tensor's address, so one is built for each buffer that does not move (the
//! packed weights, the wgmma path's activation workspace) when its layer is made, and passed to
//! the kernel by value (a `__grid_constant__` parameter). Building one is a host-only driver call
//! (`cuTensorMapEncodeTiled`): no allocation on the device, no synchronisation.

use cudarc::driver::sys::{
    self, CUtensorMap, CUtensorMapDataType, CUtensorMapFloatOOBfill, CUtensorMapInterleave,
    CUtensorMapL2promotion, CUtensorMapSwizzle,
};

use crate::error::{Error, Result};

/// The element types the kernels copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// bf16 (activations).
    Bf16,
    /// 32-bit words (packed weight codes and scales).
    U32,
}

impl Element {
    fn bytes(self) -> u64 {
        match self {
            Element::Bf16 => 2,
            Element::U32 => 4,
        }
    }
}

/// A tiled tensor map over `dims` (innermost first, in elements) at device address `address`,
/// copying boxes of `box_dims`; `strides` are the byte strides of dimensions 1.. (dimension 0 is
/// dense). `swizzle_128b` lays each box out in shared memory in the 128-byte swizzle (then the
/// box's inner extent must be 128 bytes). Elements outside the tensor read as zero.
///
/// # Errors
/// [`Error::TensorMap`] when the shape breaks the copy engine's rules (address or strides not
/// multiples of 16 bytes, a box dimension of 0 or beyond 256, a box inner extent that is not a
/// multiple of 16 bytes); the driver's error if it refuses the map.
pub fn tiled(
    element: Element,
    address: u64,
    dims: &[u64],
    strides: &[u64],
    box_dims: &[u32],
    swizzle_128b: bool,
) -> Result<CUtensorMap> {
    let rank = dims.len();
    let inner_bytes = u64::from(box_dims.first().copied().unwrap_or(0)) * element.bytes();
    let bad = |why: &'static str| Err(Error::TensorMap { why });
    if !(1..=5).contains(&rank) || strides.len() + 1 != rank || box_dims.len() != rank {
        return bad("rank 1..5 with one stride per outer dimension and one box size per dimension");
    }
    if !address.is_multiple_of(16)
        || strides
            .iter()
            .any(|s| !s.is_multiple_of(16) || *s >= 1 << 40)
    {
        return bad("address and strides must be multiples of 16 bytes (strides below 2^40)");
    }
    if dims.iter().any(|&d| d == 0 || d > 1 << 32) {
        return bad("every dimension 1..2^32 elements");
    }
    if box_dims.iter().any(|&b| b == 0 || b > 256) || !inner_bytes.is_multiple_of(16) {
        return bad("box dimensions 1..256, the inner one a multiple of 16 bytes");
    }
    if swizzle_128b && inner_bytes != 128 {
        return bad("the 128-byte swizzle needs a box inner extent of 128 bytes");
    }
    let data_type = match element {
        Element::Bf16 => CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
        Element::U32 => CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_UINT32,
    };
    let swizzle = if swizzle_128b {
        CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B
    } else {
        CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_NONE
    };
    let element_strides = [1u32; 5];
    let mut map = CUtensorMap { opaque: [0; 16] };
    // SAFETY: every pointer is to a live array of at least `rank` (dims, box, element strides) or
    // `rank - 1` (strides) entries, checked above; the driver writes only `map`.
    unsafe {
        sys::cuTensorMapEncodeTiled(
            &mut map,
            data_type,
            rank as u32,
            address as *mut std::ffi::c_void,
            dims.as_ptr(),
            strides.as_ptr(),
            box_dims.as_ptr(),
            element_strides.as_ptr(),
            CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            swizzle,
            CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    }
    .result()
    .map_err(Error::Driver)?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::{Element, tiled};
    use crate::error::Error;

    /// Shapes the copy engine cannot take are refused before the driver is asked (so these run
    /// without a GPU).
    #[test]
    fn bad_shapes_are_refused_with_a_reason() {
        let refused = |r: crate::error::Result<_>| matches!(r, Err(Error::TensorMap { .. }));
        // Unaligned address; stride not a multiple of 16; box beyond 256; 128B swizzle on a
        // 64-byte inner box; missing stride.
        assert!(refused(tiled(
            Element::Bf16,
            8,
            &[64, 4],
            &[128],
            &[64, 4],
            true
        )));
        assert!(refused(tiled(
            Element::Bf16,
            256,
            &[64, 4],
            &[136],
            &[64, 4],
            true
        )));
        assert!(refused(tiled(
            Element::U32,
            256,
            &[128, 4],
            &[512],
            &[128, 257],
            false
        )));
        assert!(refused(tiled(
            Element::Bf16,
            256,
            &[64, 4],
            &[128],
            &[32, 4],
            true
        )));
        assert!(refused(tiled(
            Element::U32,
            256,
            &[128, 4, 2],
            &[512],
            &[128, 1, 2],
            false
        )));
    }
}
