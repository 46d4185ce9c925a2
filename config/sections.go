package config

import (
	"reflect"

	"github.com/sluice-siem/sluice/internal/confpath"
)

// validator is a section of the configuration that checks itself. Each component's
// configuration type implements it (gateway.Config, kinesis.Config, search.Config, ...),
// reporting each problem with its path inside the section; validateSections adds the
// section's own path, so a component never needs to know where it sits in the file.
type validator interface {
	Validate() error
}

// validateSections walks the sections of v, a configuration struct, by their YAML
// names, and collects the problems of every section that is a validator, each under its
// path. A validator answers for everything below it, so the walk does not descend into
// it; sections without a Validate method are walked into. Maps and lists are leaves
// here (their owners check them). Sections named in unused are skipped with everything
// below them.
func validateSections(v reflect.Value, prefix string, unused map[string]bool) []error {
	var errs []error
	eachField(v, prefix, func(path string, _ reflect.StructField, fv reflect.Value) {
		if unused[path] || fv.Kind() != reflect.Struct || isScalarStruct(fv.Type()) {
			return
		}
		if val, ok := fv.Interface().(validator); ok {
			if err := confpath.Prefix(path+".", val.Validate()); err != nil {
				errs = append(errs, err)
			}
			return
		}
		errs = append(errs, validateSections(fv, path+".", unused)...)
	})
	return errs
}
