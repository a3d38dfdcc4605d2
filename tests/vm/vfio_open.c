/* tests/vm/vfio_open.c: open a VFIO group and check that it is viable and that a type1v2
 * container can be set on it. Usage: vfio_open /dev/vfio/<group>. Exit 0 when it can. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

int main(int argc, char **argv)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	int container, group;

	if (argc != 2) {
		fprintf(stderr, "usage: %s /dev/vfio/<group>\n", argv[0]);
		return 2;
	}
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0) {
		fprintf(stderr, "open /dev/vfio/vfio: %s\n", strerror(errno));
		return 1;
	}
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		fprintf(stderr, "VFIO_GET_API_VERSION: unexpected version\n");
		return 1;
	}
	group = open(argv[1], O_RDWR);
	if (group < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) < 0) {
		fprintf(stderr, "VFIO_GROUP_GET_STATUS: %s\n", strerror(errno));
		return 1;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr,
			"%s is not viable (a device in the group is bound to a host driver)\n",
			argv[1]);
		return 1;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0) {
		fprintf(stderr, "VFIO_GROUP_SET_CONTAINER: %s\n", strerror(errno));
		return 1;
	}
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		fprintf(stderr, "VFIO_SET_IOMMU(TYPE1v2): %s\n", strerror(errno));
		return 1;
	}
	printf("%s: viable, type1v2 container set\n", argv[1]);
	return 0;
}
