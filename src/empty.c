/* Placeholder translation unit for a module that has no sources yet (a static library needs one). */
typedef int ff_empty_translation_unit;
