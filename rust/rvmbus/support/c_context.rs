// SPDX-License-Identifier: GPL-2.0

//! A Rust object handed to C as the `void *` context of its callbacks.
//!
//! C keeps one thin pointer; a trait object is a fat one. So the object's
//! `Arc` is boxed, and C holds the box. Each user registers the pointer
//! with its C side, unregisters it in its own `Drop` (waiting for running
//! callbacks as that C side allows), and keeps the [`CContext`] as a field
//! that drops after that: fields drop after their owner's `drop()` body.

use core::{ffi::c_void, marker::PhantomData, ptr::NonNull};

use kernel::{prelude::*, sync::Arc};

/// An `Arc<T>` in a box whose address C holds.
///
/// # Invariants
///
/// `ptr` came from `KBox::into_raw` and is freed only in `drop`.
pub(crate) struct CContext<T: ?Sized> {
    ptr: NonNull<Arc<T>>,
    _owns: PhantomData<Arc<T>>,
}

// SAFETY: A `CContext` owns an `Arc<T>`, which may move between threads
// when `T` is `Send + Sync`; it only hands out shared references to `T`.
unsafe impl<T: ?Sized + Send + Sync> Send for CContext<T> {}
// SAFETY: `&CContext` only gives the pointer out.
unsafe impl<T: ?Sized + Send + Sync> Sync for CContext<T> {}

impl<T: ?Sized> CContext<T> {
    /// Boxes `t` for C.
    pub(crate) fn new(t: Arc<T>) -> Result<Self> {
        let boxed = KBox::new(t, GFP_KERNEL)?;
        // INVARIANT: From `KBox::into_raw`, freed only in `drop`.
        let ptr = NonNull::new(KBox::into_raw(boxed)).ok_or(ENOMEM)?;
        Ok(Self {
            ptr,
            _owns: PhantomData,
        })
    }

    /// The pointer to give C.
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr().cast::<c_void>()
    }

    /// The object behind a pointer C passed back to a callback; `None`
    /// for null.
    ///
    /// # Safety
    ///
    /// `ctx` is null or the [`CContext::as_ptr`] of a live `CContext<T>`
    /// that outlives `'a` (its owner unregisters it from C, waiting for
    /// callbacks, before it drops).
    pub(crate) unsafe fn get<'a>(ctx: *mut c_void) -> Option<&'a T> {
        // SAFETY: Guaranteed by the caller: null, or a live boxed `Arc<T>`.
        let arc = unsafe { ctx.cast::<Arc<T>>().as_ref() }?;
        Some(arc)
    }
}

impl<T: ?Sized> Drop for CContext<T> {
    fn drop(&mut self) {
        // SAFETY: From `KBox::into_raw` (type invariant), freed only here;
        // its owner took it back from C before this field dropped.
        drop(unsafe { KBox::from_raw(self.ptr.as_ptr()) });
    }
}
