// A stand-in for Apple's Combine with the two names PosmateViewModels uses, so that
// `cargo xtask shells-test` can type-check the view models' `canImport(Combine)` branch
// (their ObservableObject conformance) in Swift 6 mode on Linux. Not Apple's module: the
// real check is an Xcode build.
public protocol ObservableObject: AnyObject {
    associatedtype ObjectWillChangePublisher
    var objectWillChange: ObjectWillChangePublisher { get }
}

public final class ObservableObjectPublisher {
    public init() {}
    public func send() {}
}
