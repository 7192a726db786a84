terraform {
  required_version = ">= 1.9" # a variable validation refers to another variable
}
