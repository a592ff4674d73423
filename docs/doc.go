// Package docs holds the user and contributor documentation as Markdown.
// It has no code; its test checks the facts in the documents that the
// source can check, such as the package map.
package docs
