//! The standard buffer types and the provided methods of `BufferTier`.

use std::mem::{align_of, size_of};

use iobuf::*;

#[test]
fn standard_types_have_their_tier_sizes() {
    fn check<T: BufferTier>(tier: Tier) {
        assert_eq!(T::SIZE, tier.size());
        assert_eq!(size_of::<T>(), tier.size());
        assert_eq!(align_of::<T>(), 1);
        assert_eq!(T::TIER, Some(tier));
    }
    check::<PicoBuffer>(Tier::Pico);
    check::<NanoBuffer>(Tier::Nano);
    check::<MicroBuffer>(Tier::Micro);
    check::<SmallBuffer>(Tier::Small);
    check::<MediumBuffer>(Tier::Medium);
    check::<BigBuffer>(Tier::Big);
    check::<LargeBuffer>(Tier::Large);
    check::<GreatBuffer>(Tier::Great);
    check::<HugeBuffer>(Tier::Huge);
    check::<VastBuffer>(Tier::Vast);
    check::<GiantBuffer>(Tier::Giant);
    check::<TitanBuffer>(Tier::Titan);
    check::<RegisterBuffer>(Tier::Large);
}

#[test]
fn custom_type_without_a_tier_size() {
    #[derive(BufferTier)]
    #[repr(C)]
    struct Odd {
        a: [u8; 10],
        b: [u8; 990],
    }
    assert_eq!(Odd::SIZE, 1000);
    assert_eq!(Odd::TIER, None);
    let mut odd = Odd::zeroed_box();
    odd.b[0] = 9;
    odd.a[9] = 8;
    assert_eq!(&odd.as_bytes()[9..11], &[8, 9]);
}

#[test]
fn zeroed_box_never_touches_the_stack() {
    // A 64 KiB stack cannot hold even a GreatBuffer, let alone 128 MiB.
    let sum = std::thread::Builder::new()
        .stack_size(64 << 10)
        .spawn(|| {
            let mut titan = TitanBuffer::zeroed_box();
            titan.0[BUFFER_SIZE_TITAN - 1] = 1;
            let t = &titan.as_bytes()[BUFFER_SIZE_TITAN - 4096..];
            t.iter().map(|&b| b as usize).sum::<usize>() + titan.0[0] as usize
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(sum, 1);
}

#[test]
fn bytes_views_alias_the_value() {
    let mut b = SmallBuffer::zeroed_box();
    b.as_bytes_mut()[100] = 42;
    assert_eq!(b.0[100], 42);
    assert_eq!(b.io_slice().len(), 2048);
    assert_eq!(b.io_slice_mut().len(), 2048);
    assert_eq!(b.iovec().len(), 2048);
    assert_eq!(b.iovec().as_slice().as_ptr(), b.0.as_ptr());
    assert_eq!(b.iovec_mut().as_slice()[100], 42);
    assert_eq!(AsRef::<[u8]>::as_ref(&*b)[100], 42);
}

#[test]
fn ref_from_bytes_checks_length_and_alignment() {
    let raw = [5u8; 129];
    assert!(NanoBuffer::ref_from_bytes(&raw[..128]).is_some());
    assert!(NanoBuffer::ref_from_bytes(&raw[1..]).is_some());
    assert!(NanoBuffer::ref_from_bytes(&raw).is_none());
    assert!(NanoBuffer::ref_from_bytes(&raw[..127]).is_none());
    assert!(NanoBuffer::ref_from_bytes(&[]).is_none());

    #[derive(BufferTier)]
    #[repr(C, align(64))]
    struct Line([u8; 64]);
    let mem = cache_line_aligned_mem(256).unwrap();
    assert!(Line::ref_from_bytes(&mem[..64]).is_some());
    assert!(Line::ref_from_bytes(&mem[1..65]).is_none(), "misaligned");
    assert_eq!(Line::slice_from_bytes(&mem).unwrap().len(), 4);
    assert!(Line::slice_from_bytes(&mem[1..]).is_none(), "misaligned");

    let mut raw = [0u8; 32];
    PicoBuffer::mut_from_bytes(&mut raw).unwrap().0[3] = 3;
    assert_eq!(raw[3], 3);
}

#[test]
fn slice_from_bytes_needs_a_whole_multiple() {
    let raw: Vec<u8> = (0..=255).collect();
    let pico = PicoBuffer::slice_from_bytes(&raw).unwrap();
    assert_eq!(pico.len(), 8);
    assert_eq!(pico[7].0[0], 224);
    assert!(PicoBuffer::slice_from_bytes(&raw[..255]).is_none());
    assert_eq!(PicoBuffer::slice_from_bytes(&[]).unwrap().len(), 0);
}

#[test]
fn read_from_bytes_copies_from_offset_and_checks_range() {
    let raw: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let b = NanoBuffer::read_from_bytes(&raw, 72).unwrap();
    assert_eq!(b.0[0], 72);
    assert_eq!(b.0[127], 199);
    assert!(NanoBuffer::read_from_bytes(&raw, 73).is_none());
    assert!(NanoBuffer::read_from_bytes(&raw, usize::MAX).is_none());
}

#[test]
fn debug_never_prints_contents() {
    let b = HugeBuffer::zeroed_box();
    let s = format!("{b:?}");
    assert!(
        s.contains("HugeBuffer") && s.contains("huge") || s.contains("Huge"),
        "{s}"
    );
    assert!(s.len() < 100, "{s}");
}

#[test]
fn buffers_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TitanBuffer>();
    assert_send_sync::<IoVec<'static>>();
    assert_send_sync::<AlignedMem>();
}
