// Package blueworks is the dropsync target adapter for type "blueworks".
package blueworks
