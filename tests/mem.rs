//! Aligned memory: alignment, length, zeroing, disjoint blocks, bad input,
//! and lazy commitment of large mappings.

use iobuf::mem::MMAP_THRESHOLD;
use iobuf::*;

mod common;
use common::resident_bytes;

#[test]
fn alignment_length_and_zeroing_across_sizes() {
    for len in [
        1,
        7,
        64,
        4095,
        4096,
        4097,
        MMAP_THRESHOLD - 1,
        MMAP_THRESHOLD,
        3 << 20,
    ] {
        for align in [1, 8, 64, 4096, 1 << 16, 2 << 20] {
            let mut mem = aligned_mem(len, align).unwrap();
            assert_eq!(mem.len(), len);
            assert_eq!(mem.align(), align);
            assert_eq!(mem.as_ptr() as usize % align, 0, "len {len} align {align}");
            assert!(mem.iter().all(|&b| b == 0), "len {len} align {align}");
            mem[len - 1] = 0xAB;
            assert_eq!(mem[len - 1], 0xAB);
            mem[0] = 0xCD;
            assert_eq!(mem[0], 0xCD);
        }
    }
}

#[test]
fn large_requests_are_mapped_small_ones_are_not() {
    assert!(aligned_mem(MMAP_THRESHOLD, 64).unwrap().is_mapped());
    assert!(!aligned_mem(100, 64).unwrap().is_mapped());
    assert!(aligned_mem(100, 1 << 20).unwrap().is_mapped());
}

#[test]
fn empty_is_fine_and_aligned() {
    let mem = aligned_mem(0, 4096).unwrap();
    assert!(mem.is_empty());
    assert_eq!(mem.as_ptr() as usize % 4096, 0);
    assert_eq!(&*mem, &[] as &[u8]);
}

#[test]
fn bad_input_is_an_error_with_a_clear_message() {
    let msg = |e: Error| e.to_string();
    let err = aligned_mem(64, 0).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert!(msg(err).contains("alignment 0 is not a power of two"));
    assert!(msg(aligned_mem(64, 48).unwrap_err()).contains("alignment 48"));
    assert!(matches!(
        aligned_mem(usize::MAX, 4096),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        aligned_mem(isize::MAX as usize - 10, 4096),
        Err(Error::InvalidArgument { .. } | Error::Alloc { .. })
    ));
    assert!(msg(aligned_mem_blocks(0, 4096).unwrap_err()).contains("block count is 0"));
    assert!(msg(aligned_mem_blocks(4, 0).unwrap_err()).contains("block length is 0"));
    assert!(msg(aligned_mem_blocks(usize::MAX / 2, 4096).unwrap_err()).contains("overflow"));
    assert!(msg(aligned_mem_blocks(2, usize::MAX).unwrap_err()).contains("overflow"));
    assert!(cache_line_aligned_mem_blocks(0, 1).is_err());
}

#[test]
fn impossible_mapping_is_an_alloc_error() {
    // Half the address space cannot be mapped on any 64-bit Linux.
    match aligned_mem(1 << 62, 4096) {
        Err(Error::Alloc { len, source }) => {
            assert_eq!(len, 1 << 62);
            assert!(source.raw_os_error().is_some());
        }
        other => panic!("expected Alloc, got {other:?}"),
    }
}

#[test]
fn page_block_is_one_page() {
    let block = aligned_mem_block().unwrap();
    assert_eq!(block.len(), page_size());
    assert_eq!(block.as_ptr() as usize % page_size(), 0);
    // SAFETY: sysconf only reads a system constant.
    let os_page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    assert_eq!(page_size(), os_page as usize);
}

fn check_blocks(blocks: &mut AlignedBlocks, n: usize, len: usize, align: usize) {
    assert_eq!(blocks.len(), n);
    assert_eq!(blocks.block_len(), len);
    assert!(blocks.stride() >= len && blocks.stride() % align == 0);
    let mut ranges: Vec<(usize, usize)> = blocks
        .iter()
        .map(|b| {
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % align, 0);
            assert!(b.iter().all(|&x| x == 0));
            (b.as_ptr() as usize, b.as_ptr() as usize + b.len())
        })
        .collect();
    ranges.sort();
    for w in ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "blocks overlap: {w:?}");
    }
    for (i, b) in blocks.iter_mut().enumerate() {
        b.fill(i as u8);
    }
    for i in 0..n {
        assert!(
            blocks[i].iter().all(|&x| x == i as u8),
            "block {i} was overwritten"
        );
    }
    assert!(blocks.get(n).is_none());
    // An index whose block would end past usize::MAX is out of range too,
    // not an overflow.
    for i in [usize::MAX / blocks.stride(), usize::MAX / 4096, usize::MAX] {
        assert!(blocks.get(i).is_none(), "block {i}");
        assert!(blocks.get_mut(i).is_none(), "block {i}");
    }
}

#[test]
fn page_aligned_blocks_do_not_overlap() {
    for (n, len) in [(1, 1), (16, 4096), (5, 5000), (64, 100)] {
        let mut blocks = aligned_mem_blocks(n, len).unwrap();
        check_blocks(&mut blocks, n, len, page_size());
    }
}

#[test]
fn cache_line_blocks_do_not_share_a_line() {
    for (n, len) in [
        (1, 1),
        (8, 40),
        (10, CACHE_LINE_SIZE),
        (3, CACHE_LINE_SIZE + 1),
    ] {
        let mut blocks = cache_line_aligned_mem_blocks(n, len).unwrap();
        check_blocks(&mut blocks, n, len, CACHE_LINE_SIZE);
    }
    let mem = cache_line_aligned_mem(1).unwrap();
    assert_eq!(mem.as_ptr() as usize % CACHE_LINE_SIZE, 0);
}

#[test]
#[should_panic(expected = "block index 4 out of range for 4 blocks")]
fn block_index_out_of_range_panics() {
    let blocks = aligned_mem_blocks(4, 10).unwrap();
    let _ = &blocks[4];
}

#[test]
fn a_gibibyte_costs_nothing_until_written() {
    let before = resident_bytes();
    let mut mem = aligned_mem(1 << 30, page_size()).unwrap();
    let allocated = resident_bytes();
    assert!(
        allocated.saturating_sub(before) < 16 << 20,
        "1 GiB allocation raised RSS by {} bytes",
        allocated - before
    );
    // Writing 64 MiB commits it: the test above would see it.
    for i in (0..64 << 20).step_by(page_size()) {
        mem[i] = 1;
    }
    let written = resident_bytes();
    assert!(
        written - before >= 60 << 20,
        "writing 64 MiB raised RSS by only {} bytes",
        written - before
    );
}
