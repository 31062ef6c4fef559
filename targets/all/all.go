// Package all registers every target adapter; import it for its side
// effects.
package all

import (
	_ "github.com/dropsync/dropsync/targets/blueworks"   // type blueworks
	_ "github.com/dropsync/dropsync/targets/connections" // type connections-activities
	_ "github.com/dropsync/dropsync/targets/oracledocs"  // type oracle-documents
	_ "github.com/dropsync/dropsync/targets/sbm"         // type sbm
	_ "github.com/dropsync/dropsync/targets/sensenet"    // type sensenet
)
