// Package sensenet is the dropsync target adapter for type "sensenet".
package sensenet
