use iobuf::BufferTier;

#[derive(BufferTier)]
#[repr(C, align(4096))]
#[buffer_tier(tier = Medium)]
struct Page([u8; 4096], [u8; 4096]);

#[derive(BufferTier)]
#[repr(align(64))]
struct Line([u8; 64]);

fn main() {
    assert_eq!(std::mem::align_of::<Page>(), 4096);
    let p = Page::zeroed_box();
    assert_eq!((&*p as *const Page as usize) % 4096, 0);
    assert_eq!(Line::SIZE, 64);
}
