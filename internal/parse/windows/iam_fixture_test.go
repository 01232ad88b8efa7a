package windows_test

import (
	"path/filepath"
	"testing"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/parsetest"
)

// iamNormalized are the names the account, group, cleared-log and audit
// policy events may set at most once.
var iamNormalized = []string{
	format.FieldDataset, format.FieldCode, format.FieldCategory, format.FieldType, format.FieldAction,
	format.FieldOutcome, format.FieldUserName, format.FieldUserDomain, format.FieldUserTarget,
	format.FieldHostName, format.FieldSourceDomain, format.FieldGroupName, format.FieldGroupID,
	format.FieldClearedChannel, format.FieldBackupPath, format.FieldAuditCategory,
	format.FieldAuditSubcategory, format.FieldAuditSubcategoryGUID, format.FieldAuditChanges,
}

// TestIAMFixtures runs testdata/iam.txt: account administration, group
// membership, cleared logs (1102, 104), audit policy (4719) and lockouts
// (4740) in the JSON and Snare forms.
func TestIAMFixtures(t *testing.T) {
	parsetest.RunFixtures(t, filepath.Join("testdata", "iam.txt"), newParser(), iamNormalized)
}
