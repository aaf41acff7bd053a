// SPDX-License-Identifier: GPL-2.0
/*
 * The ACPI device through which Hyper-V announces VMBus. Naming it in the
 * module's device table gives rvmbus.ko the same ACPI aliases as the C
 * hv_vmbus, so that udev loads rvmbus on a Hyper-V guest whose kernel has no
 * hv_vmbus (a kernel where it is a module, and it is blacklisted or absent).
 * rvmbus does not bind the ACPI device itself: the Hyper-V core already
 * parsed what it needs at boot, and loading refuses cleanly when another
 * VMBus driver owns the bus.
 */

#include <linux/module.h>
#include <linux/mod_devicetable.h>

static const struct acpi_device_id rvmbus_acpi_ids[] = {
	{ "VMBUS", 0 },
	{ "VMBus", 0 },
	{ "", 0 },
};
MODULE_DEVICE_TABLE(acpi, rvmbus_acpi_ids);
