package validate_test

import (
	"errors"
	"fmt"

	"github.com/certbind/certbind/internal/validate"
)

func ExampleCertificateName() {
	fmt.Println(validate.CertificateName("myBackendCert"))

	err := validate.CertificateName("my-backend-cert")
	var verr *validate.Error
	if errors.As(err, &verr) {
		fmt.Println(verr.Field)
		fmt.Println(verr)
	}
	// Output:
	// <nil>
	// name
	// certificate name "my-backend-cert" is not a valid JavaScript identifier: '-' at position 3 is not allowed (use letters, digits, _ or $; e.g. "myBackendCert")
}
