/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Read by cppcheck before each file (tests/lint/lint.sh, --include): macros of system headers
 * it does not read (missingIncludeSystem) but must expand to parse our code. As jansson.h has them.
 */
#define json_array_foreach(array, index, value) \
	for (index = 0; index < json_array_size(array) && (value = json_array_get(array, index)); index++)
#define json_object_foreach(object, key, value)                                                \
	for (key = json_object_iter_key(json_object_iter(object));                                  \
	     key && (value = json_object_iter_value(json_object_key_to_iter(key)));                 \
	     key = json_object_iter_key(json_object_iter_next(object, json_object_key_to_iter(key))))
